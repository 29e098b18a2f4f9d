"Heading anchors of the offline docs site, in a module of their own so that Sphinx can pickle the setting."

import re


def heading_id(title: str) -> str:
    "The anchor Quarto (pandoc) gives a heading, which nbdev's links name: `ModelStore.save` -> `modelstore.save`."
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s.-]", "", title.strip().lower()))
