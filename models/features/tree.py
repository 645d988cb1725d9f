"""Tree data: what ``components/transforms/tree.py`` writes and the tree families read.

A raw tree is three JSON-friendly strings of the same number of
space-separated fields, one per node, nodes in post-order (every child before
its parent, the root last):

* :data:`NODES`: the node tokens, e.g. ``"3 4 + 2 *"``;
* :data:`LEFT` and :data:`RIGHT`: each node's left and right child index
  (:data:`NO_CHILD` = -1 for none), e.g. ``"-1 -1 0 -1 2"`` and ``"-1 -1 1 -1 3"``.

The Transform writes fixed-size dense int64 features of ``max_nodes``
(:data:`MAX_NODES` by default) entries, padding at the end:

* :data:`NODE_IDS`: token ids from the vocabulary :data:`VOCAB` whose first
  entries are :data:`RESERVED_TOKENS` (``<pad>`` = 0 pads, ``<unk>`` = 1 for
  unknown tokens);
* :data:`LEFT_CHILD`, :data:`RIGHT_CHILD`: child indices, -1 for none and for padding;
* :data:`LEVELS`: each node's height (a leaf is 0, a parent is one more than
  its highest child), -1 for padding. Nodes of one level depend only on nodes
  of lower levels, so a network can compute one whole level per step.

The root is the last real node (index ``count(NODE_IDS != PAD_ID) - 1``).
The label passes through as :data:`LABEL` (int64). :data:`EXPRESSION` (the
tree flattened to a token sequence, for sequence baselines) and
:data:`DEPTH` (the root's height) ride along in the raw data but are no
model input.
"""

from __future__ import annotations

NODES = "nodes"            # raw: post-order node tokens
LEFT = "left"              # raw: left child index per node
RIGHT = "right"            # raw: right child index per node
EXPRESSION = "expression"  # raw: the tree flattened to tokens (infix, parenthesised)
DEPTH = "depth"            # raw: the root's height
LABEL = "label"            # class id

NODE_IDS = "node_ids"
LEFT_CHILD = "left_child"
RIGHT_CHILD = "right_child"
LEVELS = "levels"
INPUTS = (NODE_IDS, LEFT_CHILD, RIGHT_CHILD, LEVELS)

VOCAB = "tree_tokens"
RESERVED_TOKENS = ("<pad>", "<unk>")
PAD_ID, UNK_ID = range(len(RESERVED_TOKENS))
NO_CHILD = -1
MAX_NODES = 64
