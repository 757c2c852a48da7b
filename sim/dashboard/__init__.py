"""The live dashboard: cxsim-dashboard serves app.py; live.py is the paired comparison it draws."""
