"""Record kinds: the grammar's rule names, and what the code needs to know about each.

The grammar (grammars/caffe.lark) names every kind of line; its tokens are positional. This
module gives the tokens field names and groups the kinds by how they are stored. A test checks
that every kind named here is a rule of the grammar.
"""
from __future__ import annotations

# the kinds the code refers to, by name (each a rule of the grammar)
FORWARD_TOP = "forward_top"
FORWARD_PARAM = "forward_param"
FORWARD_INPUT = "forward_input"
BACKWARD_BOTTOM = "backward_bottom"
BACKWARD_PARAM = "backward_param"
UPDATE_OWNED = "update_owned"
UPDATE_SHARED = "update_shared"
ALL_PARAMS = "all_params"
ITERATION_LOSS = "iteration_loss"
ITERATION_LR = "iteration_lr"
NET_OUTPUT = "net_output"
TESTING = "testing"
TEST_LOSS = "test_loss"
TEST_SCORE = "test_score"
TEST_INTERRUPTED = "test_interrupted"
CLIPPING = "clipping"
MULTISTEP = "multistep"
SNAPSHOT = "snapshot"
RESUMING = "resuming"
RESTORING = "restoring"
OPTIMIZATION_DONE = "optimization_done"
STOPPED_EARLY = "stopped_early"
SOLVING = "solving"
LR_POLICY = "lr_policy"
SOLVER_PARAMS = "solver_params"
NET_PARAMS = "net_params"
CRASH_LINE = "crash_line"
TEST_NET_FILE = "test_net_file"
TRAIN_NET_FILE = "train_net_file"
CREATING_LAYER = "creating_layer"
LAYER_BOTTOM = "layer_bottom"
LAYER_TOP = "layer_top"
TOP_SHAPE = "top_shape"
SHARING = "sharing"
LOSS_WEIGHT = "loss_weight"
NEEDS_BACKWARD = "needs_backward"
PROTO_FIELD = "proto_field"
PROTO_OPEN = "proto_open"
PROTO_CLOSE = "proto_close"

# token path (position among the rule's own tokens, or "subrule.position") -> field name
FIELD_NAMES: dict[str, dict[str, str]] = {
    FORWARD_TOP: {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    FORWARD_PARAM: {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    FORWARD_INPUT: {"0": "blob", "1": "value", "mean_part.0": "mean"},
    BACKWARD_BOTTOM: {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    BACKWARD_PARAM: {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    UPDATE_OWNED: {"0": "layer", "1": "blob", "2": "data", "3": "diff"},
    UPDATE_SHARED: {"0": "layer", "1": "blob", "2": "owner", "3": "owner_param", "4": "value"},
    ALL_PARAMS: {"0": "l1_data", "1": "l1_diff", "2": "l2_data", "3": "l2_diff"},
    ITERATION_LOSS: {"0": "iteration", "1": "value", "speed.0": "iter_per_s",
                       "speed.1": "seconds", "speed.2": "display"},
    ITERATION_LR: {"0": "iteration", "1": "value"},
    NET_OUTPUT: {"0": "phase", "1": "index", "2": "name", "3": "value",
                   "weighted.0": "weight", "weighted.1": "weighted"},
    TESTING: {"0": "iteration", "1": "test_net"},
    TEST_LOSS: {"0": "value"},
    TEST_SCORE: {"0": "index", "1": "value"},
    CLIPPING: {"0": "l2_norm", "1": "threshold", "2": "scale"},
    MULTISTEP: {"0": "iteration", "1": "step"},
    SNAPSHOT: {"0": "what", "1": "path"},
    RESUMING: {"0": "path"},
    RESTORING: {"0": "path"},
    SOLVING: {"0": "net_name"},
    LR_POLICY: {"0": "policy"},
    TEST_NET_FILE: {"0": "test_net", "1": "source"},
    TRAIN_NET_FILE: {"0": "source"},
    CREATING_LAYER: {"0": "layer"},
    LAYER_BOTTOM: {"0": "layer", "1": "blob"},
    LAYER_TOP: {"0": "layer", "1": "blob", "2": "in_place"},
    TOP_SHAPE: {},  # positional ints: dims..., count
    SHARING: {"0": "param", "1": "owner", "2": "index"},
    LOSS_WEIGHT: {"0": "weight"},
    NEEDS_BACKWARD: {"0": "layer", "1": "need"},
    PROTO_FIELD: {"0": "key", "1": "value"},
    PROTO_OPEN: {"0": "key"},
}

# blob kind -> (direction, role, quantity)
BLOB_KINDS: dict[str, tuple[str, str, str]] = {
    FORWARD_TOP: ("forward", "top", "data"),
    FORWARD_PARAM: ("forward", "param", "data"),
    FORWARD_INPUT: ("forward", "top", "data"),
    BACKWARD_BOTTOM: ("backward", "bottom", "diff"),
    BACKWARD_PARAM: ("backward", "param", "diff"),
    UPDATE_SHARED: ("update", "param", "diff"),
}

# the rarer kinds that mark a place in the log (attribution reads them); the frequent solver
# lines (loss, lr, net outputs) go to SolverColumns instead
EVENT_KINDS = frozenset({
    TESTING, TEST_LOSS, TEST_SCORE,
    CLIPPING, MULTISTEP, SNAPSHOT, RESUMING, RESTORING, OPTIMIZATION_DONE,
    STOPPED_EARLY, TEST_INTERRUPTED, SOLVING, LR_POLICY, SOLVER_PARAMS,
    CRASH_LINE,
})

# the frequent solver lines, stored a column at a time (SolverColumns)
SOLVER_COLUMN_KINDS = frozenset({ITERATION_LOSS, ITERATION_LR, NET_OUTPUT})
# kinds without state (one line per displayed iteration): the template path stores them a
# column at a time (solver_lines.py)
COLUMNAR_KINDS = SOLVER_COLUMN_KINDS | {ALL_PARAMS}
