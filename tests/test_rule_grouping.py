"""The numpy group-bys inside rules equal the pandas group-bys they replaced, on any rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from caffelog.diagnose.rules.zero_gradient import _per_layer_iteration

ROW = st.tuples(st.sampled_from(["conv1", "fc1", "ip2"]), st.integers(0, 1), st.one_of(st.none(), st.integers(0, 3)),
                st.sampled_from([0.0, 0.5, np.nan]), st.one_of(st.just(np.nan), st.floats(0, 100)),
                st.sampled_from(["0", "1"]))


@given(st.lists(ROW, max_size=40))
def test_zero_gradient_groups_as_pandas_grouped_them(rows):
    p = pd.DataFrame(rows, columns=["layer", "segment", "iteration", "value", "time", "blob"])
    p["layer"] = pd.Categorical(p["layer"], categories=["fc1", "conv1", "ip2", "unused"])
    p["blob"] = pd.Categorical(p["blob"])
    p["iteration"] = p["iteration"].astype("Int64")
    p["line"] = np.arange(len(p)) * 3 + 7
    # what zero_gradient.py did before: two pandas group-bys
    g = pd.DataFrame({"nonzero": (p["value"] != 0).to_numpy(), "line": p["line"].to_numpy(),
                      "time": p["time"].to_numpy(), "blob": p["blob"].astype(str).to_numpy()},
                     index=p.index).groupby([p["layer"], p["segment"], p["iteration"]], observed=True, sort=False)
    per = pd.DataFrame({"nonzero": g["nonzero"].any(), "line": g["line"].min(), "time": g["time"].min(),
                        "blob": g["blob"].first()})
    want = [(str(layer), [(int(s), int(i)) for _, s, i in rows.index], rows["nonzero"].tolist(),
             rows["line"].tolist(), rows["time"].tolist(), rows["blob"].tolist())
            for layer, rows in per.groupby(level=0, observed=True, sort=False)]
    got = [(layer, list(zip(it.segment.tolist(), it.iteration.tolist())), it.nonzero.tolist(), it.line.tolist(),
            it.time.tolist(), it.blob) for layer, it in _per_layer_iteration(p)]
    assert [w[:4] for w in want] == [g[:4] for g in got]
    assert [w[5] for w in want] == [g[5] for g in got]
    for w, g in zip(want, got):  # times: NaN where no row of the group had one
        np.testing.assert_array_equal(np.array(w[4], float), np.array(g[4], float))
