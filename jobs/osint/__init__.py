"""OSINT analytics: what post texts say (places, times, identifiers) and in which language.

Pure kernels over Arrow tables: :mod:`jobs.osint.gazetteer` builds the place names a
text may use from the lakehouse's own tables, :mod:`jobs.osint.mentions` reads the posts.
See docs/osint.md.
"""
