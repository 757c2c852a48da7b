"""Sensitivity and robustness of scenario rankings over uncertain assumptions (cxsim-explore).

spec      the exploration spec (configs/uncertainty/<name>.yaml) and its checks
design    SALib's futures on quantiles, mapped to each key's distribution; one config per future
sweep     the futures run as one ordinary `cxsim -m` sweep, with a progress bar read from disk
outcomes  the experiments table (paired differences per future, scenario and seed) from the runs
analysis  Morris and Sobol' indices (SALib), pairing gain, robustness and win shares
report    report.html
cli       the cxsim-explore command
"""
