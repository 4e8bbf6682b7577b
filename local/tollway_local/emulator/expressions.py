"""Condition and update expressions parsed once per expression string instead of at every use.

moto 5.2.5 parses a write's expressions again and again: an Update inside TransactWriteItems has its
ConditionExpression lexed and parsed three times (the request validation in `responses.py`, the
transaction's own check, `update_item`) and its UpdateExpression twice, and every request starts from
the text. Parsing was about 45% of the emulator's CPU for the relay's two transactions per request,
while the relay sends a handful of distinct expression strings, each with new values every time.

`install()` memoises both parsers by the expression text; what varies per call is bound per call:

- `ConditionExpressionParser.parse`: the first successful parse of a text keeps moto's own syntax tree
  (the `Node` tree its `parse` hands to `_make_op_condition`). A later parse of the same text rebinds
  that tree's leaves to this call's ExpressionAttributeNames (`#name` leaves) and
  ExpressionAttributeValues (`:value` leaves), then runs moto's `_make_op_condition` on it, so the
  operator objects (and any error they raise, e.g. a NULL bound in BETWEEN) are moto's. The names and
  values found (`expr_attr_names_found`/`expr_attr_values_found`, which moto's unused-name and
  unused-value checks read) are the texts of the expression, the same for every call. The tree itself
  depends only on the text: which placeholder a leaf holds, reserved words and syntax are properties
  of the text; only the leaves' looked-up values are not.
- `UpdateExpressionParser.make`: the first successful parse of a text is kept and returned again.
  moto never changes that AST: its validator works on a deep copy (`Validator.__init__`), and the
  request checks only read it (`find_clauses`).
- That deep copy (`copy.deepcopy` of the AST, every Update) becomes `pickle.loads` of the cached
  AST's pickle, taken once: moto's AST nodes are plain objects holding only `type`, `children` and
  `parent` (no `__deepcopy__`, `__reduce__` or slots), which deepcopy and pickle both rebuild from
  `__reduce_ex__` with one memo, so the copy is the same tree (parents pointing into the copy).
  Only the validators module's `deepcopy` name is replaced, and only a cached AST takes this path;
  everything else it copies (list_append's operands) goes to `copy.deepcopy`.
- The validator's ten tree walkers visit about a hundred nodes per Update, and at each one moto's
  `DepthFirstTraverser.traverse_node_recursively` asks `isinstance(node, Node)` and
  `isinstance(node, self.nodes_to_be_processed())`, where `Node` is an ABC (a Python-level
  `__instancecheck__` per call) and `nodes_to_be_processed()` rebuilds a tuple from a fresh
  `_processing_map()` dict. Both answers depend only on the node's class and the walker's class
  (every moto walker's map has class literals as keys; nothing is registered as a virtual subclass
  of an AST class), so the patched walk keeps them per class and otherwise does what moto's does,
  in the same order: the same `pre_processing_of_child` calls, the same `process` calls, the same
  replacement of a processed child in its parent.

Faithfulness: anything a cached tree cannot answer exactly goes to moto's own code, unchanged: a text
that never parsed (syntax errors, reserved words, bad functions: moto raises them again each time), a
call whose names or values are not a dict or lack a placeholder the text uses (moto raises its
KeyError/TypeError), an empty expression. The caches only ever hold results moto computed; the unit
tests run the same requests through patched and unpatched moto and compare the answers.

Bounded: each cache holds at most `MAX_ENTRIES` texts and is emptied when full (tollway sends a few
dozen distinct texts; a client that sends endless distinct texts just parses as moto does).
Not thread safe on its own: like the rest of the emulator it runs under the request lock (`wsgi.py`).
"""

from __future__ import annotations

import copy
import functools
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import moto.dynamodb.parsing.validators as validators
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_ENTRIES", "clear", "counts", "install", "installed", "uninstall"]

MAX_ENTRIES = 512

_Node = Any  # moto's ConditionExpressionParser.Node (a namedtuple)
_KIND = ConditionExpressionParser.Kind
_NONTERMINAL = ConditionExpressionParser.Nonterminal


@dataclass(frozen=True, slots=True)
class _Condition:
    """A parsed condition expression, its placeholders unbound."""

    bind: Callable[[dict[str, Any], dict[str, Any]], _Node]  # moto's first tree, rebound to (names, values)
    names: frozenset[str]  # `#name` placeholders whose value the tree holds
    values: frozenset[str]  # `:value` placeholders whose value the tree holds
    names_found: tuple[str, ...]  # moto's expr_attr_names_found for this text
    values_found: tuple[str, ...]  # moto's expr_attr_values_found for this text


_conditions: dict[str, _Condition] = {}
_updates: dict[str, Any] = {}
_pickles: dict[int, tuple[Any, bytes]] = {}  # id(cached AST) -> (the AST, its pickle)
_walked: dict[type, tuple[type, ...]] = {}  # walker class -> its nodes_to_be_processed()
_is_node: dict[type, bool] = {}  # class -> issubclass(class, Node)
_processes: dict[tuple[type, type], bool] = {}  # (walker class, node class) -> does the walker process it
_counts = {"condition_hits": 0, "condition_parses": 0, "update_hits": 0, "update_parses": 0, "ast_unpickled": 0}
_original_parse: Callable[..., Any] | None = None
_original_make: Any = None  # the classmethod object as it sits in the class __dict__
_original_walked: Callable[..., Any] | None = None
_original_traverse: Callable[..., Any] | None = None


def _is_name_leaf(node: _Node) -> bool:
    # moto resolves exactly these leaves through ExpressionAttributeNames (`_parse_path_element`).
    return bool(
        node.kind == _KIND.LITERAL and node.nonterminal == _NONTERMINAL.IDENTIFIER and node.text.startswith("#")
    )


def _binder(node: _Node, names: set[str], values: set[str]) -> Callable[[dict[str, Any], dict[str, Any]], _Node]:
    """A function giving `node` with every placeholder leaf holding a call's value (moto's lookups,
    done again); subtrees without placeholders are shared. Collects the placeholders it binds."""
    make = type(node)._make
    nonterminal, kind, text, value, children = node
    if kind == _KIND.EXPRESSION_ATTRIBUTE_VALUE:
        values.add(text)
        return lambda n, v: make((nonterminal, kind, text, v[text], []))
    if _is_name_leaf(node):
        names.add(text)
        return lambda n, v: make((nonterminal, kind, text, n[text], []))
    before = len(names) + len(values)
    binders = [_binder(child, names, values) for child in children]
    if len(names) + len(values) == before:
        return lambda n, v: node
    return lambda n, v: make((nonterminal, kind, text, value, [bind(n, v) for bind in binders]))


def _covers(mapping: Any, placeholders: frozenset[str]) -> bool:
    if not placeholders:
        return True
    return type(mapping) is dict and all(name in mapping for name in placeholders)


def _remember_condition(text: str, tree: _Node, names_found: list[str], values_found: list[str]) -> None:
    names: set[str] = set()
    values: set[str] = set()
    bind = _binder(tree, names, values)
    if len(_conditions) >= MAX_ENTRIES:
        _conditions.clear()
    _conditions[text] = _Condition(bind, frozenset(names), frozenset(values), tuple(names_found), tuple(values_found))


def _wrap_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def parse(self: ConditionExpressionParser) -> Any:
        text = self.condition_expression
        if not text or type(text) is not str:
            return original(self)
        cached = _conditions.get(text)
        names, values = self.expression_attribute_names, self.expression_attribute_values
        if cached is not None and _covers(names, cached.names) and _covers(values, cached.values):
            _counts["condition_hits"] += 1
            tree = cached.bind(names or {}, values or {})
            self.expr_attr_names_found.extend(cached.names_found)
            self.expr_attr_values_found.extend(cached.values_found)
            return self._make_op_condition(tree)
        if cached is not None:
            return original(self)  # moto raises the missing name's or value's error
        # moto's own parse; its tree is the root `_make_op_condition` is first called with.
        _counts["condition_parses"] += 1
        roots: list[_Node] = []
        make = self._make_op_condition

        def capture(node: _Node) -> Any:
            if not roots:
                roots.append(node)
            return make(node)

        self._make_op_condition = capture  # type: ignore[method-assign]
        names_before, values_before = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
        try:
            op = original(self)
        finally:
            del self._make_op_condition
        if roots:
            _remember_condition(
                text,
                roots[0],
                self.expr_attr_names_found[names_before:],
                self.expr_attr_values_found[values_before:],
            )
        return op

    return parse


def _make_update(cls: type[UpdateExpressionParser], expression_str: Any) -> Any:
    if type(expression_str) is str:
        cached = _updates.get(expression_str)
        if cached is not None:
            _counts["update_hits"] += 1
            return cached
    _counts["update_parses"] += 1
    ast = _original_make.__func__(cls, expression_str)
    if type(expression_str) is str:
        if len(_updates) >= MAX_ENTRIES:
            _updates.clear()
            _pickles.clear()
        _updates[expression_str] = ast
        try:
            _pickles[id(ast)] = (ast, pickle.dumps(ast, pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass  # copied by copy.deepcopy, as moto does
    return ast


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`deepcopy` as moto's validators module sees it: a cached AST is rebuilt from its pickle."""
    if memo is None:
        kept = _pickles.get(id(value))
        if kept is not None and kept[0] is value:
            _counts["ast_unpickled"] += 1
            return pickle.loads(kept[1])  # noqa: S301 - our own pickle of moto's AST, never outside input
    return copy.deepcopy(value, memo)


def _nodes_to_be_processed(self: DepthFirstTraverser) -> tuple[type, ...]:
    walker = type(self)
    kinds = _walked.get(walker)
    if kinds is None:
        kinds = _walked[walker] = tuple(self._processing_map().keys())
    return kinds


def _traverse_node_recursively(self: DepthFirstTraverser, node: Any, child_id: int = -1) -> Any:
    """moto's `traverse_node_recursively` with its two class checks answered once per class."""
    node_class = type(node)
    is_node = _is_node.get(node_class)
    if is_node is None:
        is_node = _is_node[node_class] = issubclass(node_class, Node)
    if is_node:
        parent_node = node.parent
        children = node.children
        if children is not None:
            for i, child_node in enumerate(children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        pair = (type(self), node_class)
        processes = _processes.get(pair)
        if processes is None:
            processes = _processes[pair] = isinstance(node, self.nodes_to_be_processed())
        if processes:
            node = self.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
    return node


def install() -> None:
    """Memoise moto's condition and update expression parsers (once per process; `uninstall()` reverts)."""
    global _original_parse, _original_make, _original_walked, _original_traverse
    if _original_parse is not None:
        return
    _original_traverse = DepthFirstTraverser.traverse_node_recursively
    _original_parse = ConditionExpressionParser.parse
    _original_make = UpdateExpressionParser.__dict__["make"]
    _original_walked = DepthFirstTraverser.nodes_to_be_processed
    ConditionExpressionParser.parse = _wrap_parse(_original_parse)  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(_make_update)
    validators.deepcopy = _deepcopy  # type: ignore[attr-defined,assignment]
    DepthFirstTraverser.nodes_to_be_processed = _nodes_to_be_processed
    DepthFirstTraverser.traverse_node_recursively = _traverse_node_recursively


def uninstall() -> None:
    """Put moto's parsers back and drop what was cached."""
    global _original_parse, _original_make, _original_walked, _original_traverse
    if _original_parse is None:
        return
    DepthFirstTraverser.traverse_node_recursively = _original_traverse
    ConditionExpressionParser.parse = _original_parse  # type: ignore[method-assign]
    UpdateExpressionParser.make = _original_make
    validators.deepcopy = copy.deepcopy  # type: ignore[attr-defined]
    DepthFirstTraverser.nodes_to_be_processed = _original_walked
    _original_parse = _original_make = _original_walked = _original_traverse = None
    clear()


def installed() -> bool:
    return _original_parse is not None


def clear() -> None:
    """Forget every cached expression (the next use of each parses it again)."""
    _conditions.clear()
    _updates.clear()
    _pickles.clear()
    _walked.clear()
    _is_node.clear()
    _processes.clear()


def counts() -> dict[str, int]:
    """Cache hits and real parses since the process started, and how many texts are cached."""
    return {**_counts, "conditions_cached": len(_conditions), "updates_cached": len(_updates)}
