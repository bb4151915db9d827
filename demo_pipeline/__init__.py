"""Ripple demo pipeline: weekly store revenue for "Northwind Outfitters", a 20-store retail chain.

Modules (each public function is a node; ``_helpers``, imported names and ``util.py`` are not):

* ``ingest``   — load the shipped CSVs in ``data/`` (``Path`` inputs, plus one undeclared file read)
* ``clean``    — dedupe, fix types, drop outliers, join; ``@extract_columns`` on ``sales``
* ``features`` — weekly store grid, ``@parameterize``d rolling means, ``@config.when`` trend switch
* ``model``    — the slow ridge fit (~1-2 s), holdout predictions, a ``Parallelizable`` fan-out over
  regions gathered by a ``Collect`` node
* ``report``   — headline KPIs and the final markdown ``report``
* ``util``     — shared helpers (``_robust_zscore``, ``_money``) and constants (``OUTLIER_Z``)

Run it::

    ripple run demo_pipeline                          # final output: report (str)
    ripple run demo_pipeline --outputs model_metrics,top_stores
    ripple run demo_pipeline --config trend_method=ewm   # switch revenue_trend implementation
    ripple run demo_pipeline --input top_n=5 --config holdout_weeks=6

Show a failure and a resume::

    ripple run demo_pipeline --config holdout_region=Atlantis
        # region_spotlight fails: "holdout has no rows for region 'Atlantis'; known regions are ..."
        # (fitted_model, the slow node, already succeeded and is cached); report is skipped
    ripple run demo_pipeline
        # resumes: everything upstream is a cache hit, including fitted_model; only
        # region_spotlight (default holdout_region="North") and report run

Incremental edits worth trying: change ``OUTLIER_Z`` in ``util.py`` (re-runs ``sales`` and what
depends on it), edit ``data/holidays.csv`` (re-runs ``holidays``, which declares no input),
reformat or comment ``model.py`` (nothing re-runs), change ``N_BOOTSTRAP`` (re-runs ``fitted_model``).

Python API::

    from engine import Driver
    import demo_pipeline.ingest, demo_pipeline.clean, demo_pipeline.features, demo_pipeline.model
    import demo_pipeline.report
    dr = Driver({}, demo_pipeline.ingest, demo_pipeline.clean, demo_pipeline.features,
                demo_pipeline.model, demo_pipeline.report).with_cache()
    print(dr.execute(["report"])["report"])

The data is generated deterministically by ``data/make_data.py`` (not a module: ``data/`` has no
``__init__.py``).
"""

import os as _os

# The model's matrices are small: BLAS worker threads only spin against each other, and on a busy
# 2-core machine they made the ~1 s fit take 5-50 s. Set before numpy loads; the user's setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
