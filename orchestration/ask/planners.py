"""Language-model planners for ``crimefusion ask`` (issue #18, 2b): a local GGUF model through llama.cpp,
or a model behind an OpenAI-compatible endpoint on the agency's network.

Both write a query plan, never SQL, under the JSON schema of :func:`jobs.ask.schema.plan_schema`:
llama.cpp compiles it to a grammar that masks every token the schema does not allow; an
endpoint gets it as a structured-output request (``response_format`` ``json_schema``, as OpenAI,
llama.cpp's ``llama-server`` and vLLM take it, or ``json_object`` with ``schema``, as
llama-cpp-python's server and Anyscale take it). Whatever comes back is read and checked again
(:func:`jobs.ask.schema.read_plan`, then the catalogue): a server that ignored the schema gets
its plan declined, not run. Nothing leaves the machine with ``llama.cpp``; with an endpoint,
the question and the catalogue's description (table and column names, a sample of each
column's values, never a pseudonymised column) go to that endpoint only.

The default engine needs neither: the rule-based parser (:mod:`jobs.ask.parser`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from jobs.ask.catalogue import Catalogue
from jobs.ask.schema import messages, plan_schema, worked_examples

#: tokens a plan may take (a plan is a few hundred characters; a byte-level model writes one per token)
MAX_TOKENS = 2048


class PlannerError(RuntimeError):
    """The planner cannot run here (no model file, no llama.cpp, an endpoint that does not answer)."""


@dataclass
class Drafted:
    """What a model wrote for a question, with how it was asked."""

    text: str
    info: dict  # engine, model, seconds, tokens: the answer's ``query.planner``


class _Planner:
    """What both planners send: the schema and the worked examples of a catalogue, made once per catalogue
    (a served page asks many questions of one lakehouse), and the chat messages of a question."""

    _for = None  # (catalogue, schema, examples) of the last catalogue asked about

    def _request(self, question: str, catalogue: Catalogue) -> tuple[dict, list[dict]]:
        if self._for is None or self._for[0] is not catalogue:
            self._for = (catalogue, plan_schema(catalogue), worked_examples(catalogue))
        _, schema, examples = self._for
        return schema, messages(question, catalogue, examples)


class LlamaCppPlanner(_Planner):
    """A GGUF model on this machine, through llama.cpp (``pip install 'crimefusion[llm]'``)."""

    engine = "llama.cpp"

    def __init__(self, model_path: str | Path, *, n_ctx: int = 8192, n_threads: int | None = None, seed: int = 0):
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise PlannerError(f"no GGUF model file at {path}")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise PlannerError("the llama.cpp engine needs llama-cpp-python: pip install 'crimefusion[llm]'") from None
        try:
            self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise PlannerError(f"{path.name}: llama.cpp cannot load it as a model ({exc})") from None
        self.path, self.n_ctx = path, n_ctx

    def draft(self, question: str, catalogue: Catalogue) -> Drafted:
        from llama_cpp import LlamaGrammar

        schema, chat = self._request(question, catalogue)
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        t0 = time.perf_counter()
        try:
            out = self.llm.create_chat_completion(chat, grammar=grammar, temperature=0.0, max_tokens=MAX_TOKENS)
        except ValueError as exc:  # llama-cpp-python's "Requested tokens exceed context window"
            raise PlannerError(f"{self.path.name}: {exc}; the model's context is {self.n_ctx} tokens "
                               "(crimefusion ask --n-ctx)") from None
        usage = out.get("usage", {})
        return Drafted(text=out["choices"][0]["message"]["content"] or "",
                       info={"engine": self.engine, "model": self.path.name,
                             "seconds": round(time.perf_counter() - t0, 3),
                             "prompt_tokens": usage.get("prompt_tokens"),
                             "completion_tokens": usage.get("completion_tokens"),
                             "finish_reason": out["choices"][0].get("finish_reason")})


class OpenAIPlanner(_Planner):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint (``base_url`` ends before it)."""

    engine = "openai-compatible"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 120.0):
        if not base_url.startswith(("http://", "https://")):
            raise PlannerError(f"the endpoint must be an http(s) URL, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout_s = model, api_key, timeout_s
        self.style: str | None = None  # the structured-output form this server took, once known

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - the agency's URL
            return json.loads(response.read())

    def draft(self, question: str, catalogue: Catalogue) -> Drafted:
        schema, chat = self._request(question, catalogue)
        body = {"model": self.model, "messages": chat, "temperature": 0, "max_tokens": MAX_TOKENS}
        forms = {"json_schema": {"type": "json_schema",
                                 "json_schema": {"name": "query_plan", "strict": True, "schema": schema}},
                 "json_object": {"type": "json_object", "schema": schema}}
        t0 = time.perf_counter()
        out, refused = None, []
        for style in [self.style] if self.style else list(forms):
            try:
                out = self._post(body | {"response_format": forms[style]})
                self.style = style
                break
            except urllib.error.HTTPError as exc:  # a server that does not know this form: 400, 422 or 500 saying so
                detail = exc.read()[:300].decode(errors="replace")
                if exc.code not in (400, 422) and "response_format" not in detail:
                    raise PlannerError(f"{self.url}: HTTP {exc.code}: {detail}") from None
                refused.append(f"{style}: HTTP {exc.code} {detail}")
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise PlannerError(f"{self.url} does not answer: {getattr(exc, 'reason', exc)}") from None
        if out is None:
            raise PlannerError(f"{self.url} takes no structured output the plan needs ({'; '.join(refused)})")
        try:
            choice = out["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise PlannerError(f"{self.url}: not a chat completion: {json.dumps(out)[:200]}") from None
        usage = out.get("usage") or {}
        return Drafted(text=text, info={"engine": self.engine, "model": self.model, "endpoint": self.url,
                                        "response_format": self.style,
                                        "seconds": round(time.perf_counter() - t0, 3),
                                        "prompt_tokens": usage.get("prompt_tokens"),
                                        "completion_tokens": usage.get("completion_tokens"),
                                        "finish_reason": choice.get("finish_reason")})


ENGINES = ("auto", "rules", "llama-cpp", "openai")


def make_planner(engine: str = "auto", *, model: str | None = None, endpoint: str | None = None,
                 api_key: str | None = None, n_ctx: int = 8192):
    """The planner ``engine`` names, or ``None`` for the rule-based parser.

    ``auto``: an endpoint when one is given (``--endpoint`` / ``CRIMEFUSION_ASK_ENDPOINT``),
    else a GGUF file when one is given (``--model`` / ``CRIMEFUSION_ASK_MODEL``), else the rules.
    """
    if engine not in ENGINES:
        raise PlannerError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "openai" if endpoint else "llama-cpp" if model else "rules"
    if engine == "rules":
        return None
    if engine == "openai":
        if not endpoint or not model:
            raise PlannerError("the openai engine needs --endpoint URL and --model NAME (the model's name there)")
        return OpenAIPlanner(endpoint, model, api_key=api_key)
    if not model:
        raise PlannerError("the llama-cpp engine needs --model FILE.gguf")
    return LlamaCppPlanner(model, n_ctx=n_ctx)
