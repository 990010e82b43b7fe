"""Tools a policy can call during a multi-turn rollout or evaluation, and the box that runs them.

:mod:`rlreason.tools.calculator` and the tool-use task's ``lookup`` (``rlreason/tasks/tool_use.py``) are the
built-ins; a user's own function joins them by ``module:function`` (``rollout.tools``). A
:class:`~rlreason.tools.box.ToolBox` runs each call with a time limit and caps what it returns.
"""
