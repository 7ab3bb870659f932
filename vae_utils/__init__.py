"""vae_utils — the helper package of the course "Where the noise lives".

Each module is the distilled code of one part of the course:

==========================  ============================================================"""
__version__ = "0.1.0"
