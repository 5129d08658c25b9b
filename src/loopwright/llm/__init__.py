"""LLM ops: prompts governed like models (and, next, traces and LLM/RAG evaluation).

Examples
--------
>>> from loopwright.llm import template_variables
>>> template_variables("Answer as {{ tone }}: {{ question }}")
('question', 'tone')
"""

from loopwright.llm.prompts import (
    PromptVersion,
    delete_prompt_alias,
    diff_prompts,
    list_prompt_versions,
    load_prompt,
    parse_prompt_uri,
    register_prompt,
    search_prompts,
    set_prompt_alias,
    template_variables,
)

__all__ = [
    "PromptVersion",
    "delete_prompt_alias",
    "diff_prompts",
    "list_prompt_versions",
    "load_prompt",
    "parse_prompt_uri",
    "register_prompt",
    "search_prompts",
    "set_prompt_alias",
    "template_variables",
]
