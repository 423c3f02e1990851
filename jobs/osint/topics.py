"""Crime vocabulary in posts: words of violence, weapons, drugs, police and emergencies, in English and Spanish.

A trie of every word and phrase (:class:`jobs.osint.text.PhraseTrie`), looked up over the folded text; each
hit names its topic. The topics feed ``osint_mentions`` (kind ``topic``) and the chatter spikes
(:mod:`jobs.osint.chatter`).
"""

from __future__ import annotations

from jobs.osint.text import PhraseTrie

#: Topic -> words and phrases (folded: lower case, no accents), English then Spanish.
TOPICS: dict[str, str] = {
    "violence": "shots|shots fired|shooting|shooter|gunfire|gunshots|got shot|fight|fighting|stabbed|stabbing|"
                "robbed|robbery|jumped|beat up|carjacked|carjacking|murder|killed|"
                "balazos|balacera|disparos|tiroteo|pelea|asalto|asaltaron|apunalado|golpearon|mataron",
    "weapons": "gun|guns|pistol|glock|rifle|strap|knife|blade|arma|armas|pistola|cuchillo|navaja",
    "drugs": "weed|coke|crack|heroin|fentanyl|pills|dope|xanax|molly|droga|drogas|mota|perico|cocaina",
    "police": "cops|police|squad cars|squad car|feds|swat|policia|patrulla|patrullas|la jura",
    "emergency": "ambulance|paramedics|firefighters|fire trucks|ambulancia|bomberos|paramedicos",
    "gathering": "party|pull up|block party|bring everybody|fiesta|reunion|pachanga",
}
_TOPIC_OF = {w: topic for topic, words in TOPICS.items() for w in words.split("|")}
PHRASES = PhraseTrie(list(_TOPIC_OF))


def find_topics(folded: str) -> list[tuple[int, int, str, str]]:
    """``(start, end, topic, word)`` of each vocabulary word in a folded text."""
    return [(s, e, _TOPIC_OF[word], word) for s, e, word in PHRASES.finditer(folded)]
