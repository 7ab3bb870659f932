"""vae_utils — the helper package of the course "Where the noise lives".

Each module is the distilled code of one part of the course:

========================  =====================================================
``vae_utils.data``        ``load_mnist``: the embedded 5,000 MNIST digits (all lessons)
``vae_utils.estimators``  estimators of log p(x) and the closed-form KL (lessons 3–5)
``vae_utils.vae``         the VAE, ``negative_elbo`` (lesson 6)
``vae_utils.train``       ``train_vae``, ``pick_device`` (lesson 6)
``vae_utils.pretrained``  ``load_pretrained``: VAEs trained with the lesson-6 recipe, shipped
``vae_utils.plotting``    image grids, latent scatter, loss curves
========================  =====================================================
"""
__version__ = "0.1.0"
