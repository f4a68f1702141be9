"""`caffelog report`: one self-contained HTML page per run (or per set of runs).

content.py decides what the page says (plain data from the tables and findings), charts.py packs
curves for the browser, page.py fills the template, static.py draws PNGs for `--static`.
The chart library is vendored in vendor/ (uPlot, MIT; see vendor/README.md).
"""
