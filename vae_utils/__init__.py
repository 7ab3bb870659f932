"""vae_utils — the helper package of the course "Where the noise lives".

Each module is the distilled code of one part of the course:

==========================  ===================================================================
``vae_utils.data``          ``load_mnist``: the embedded 5,000 MNIST digits (all lessons)
``vae_utils.gaussian``      ``fit_gaussian``, ``sqrtm_psd``, ``sample_gaussian``,
                            ``gaussian_log_prob`` (lesson 1)
``vae_utils.lvm``           ``LinearGaussianLVM``, the exact yardstick (lessons 2–5b)
``vae_utils.estimators``    estimators of log p(x) and the closed-form KL (lessons 3–6d)
``vae_utils.demos``         closed forms and figures of naive Monte Carlo and importance
                            sampling on the linear-Gaussian model (lessons 3 and 4)
``vae_utils.elbo_demos``    the lesson-5 model, exact ELBOs, fitting loops and figures
                            (lessons 5 and 5b)
``vae_utils.vae``           the VAE (MLP or convolutional), ``negative_elbo`` (lessons 6–6d)
``vae_utils.train``         ``train_vae``, ``evaluate``, ``pick_device``, ``progress_bar``
                            (lessons 6–6d)
``vae_utils.pretrained``    ``load_pretrained``: VAEs trained with the lesson-6 recipe, shipped
``vae_utils.latent``        the aggregate posterior, latent densities, nearest neighbours,
                            the three sources of noise in pictures (lesson 6a)
``vae_utils.pitfalls``      three broken training runs to diagnose, and the loop that makes
                            one of them (lesson 6c)
``vae_utils.proposals``     the defensive mixture proposal and L_K for every K (lesson 6b)
``vae_utils.beyond``        a learned mixture prior, a two-level VAE, the Monte Carlo ELBO and
                            its training loop, their shipped weights (lesson 6e)
``vae_utils.toy2d``         a 2-D toy with a known density: a normalizing flow and a small VAE
                            (lesson 6e)
``vae_utils.plotting``      image grids, latent scatter, loss curves
``vae_utils.widgets``       Gaussian explorer, latent explorer, interpolation (lessons 1 and 6a)
``vae_utils.checks``        the exercises' checks, one module per lesson (shared helpers in
                            ``_common``)
``vae_utils.setup_check``   ``check_setup``: is this machine ready? (notebook 00)
``vae_utils.classroom``     instructors: ``python -m vae_utils.classroom autograde``, a class
                            autograded in parallel with nbgrader on Dask, with flags
``vae_utils.validate``      the argument checks every public function runs: one message style
                            (argument, what was wrong, the fix) for images, latent codes,
                            counts and numbers
==========================  ===================================================================
"""
__version__ = "0.1.0"
