"""The synthetic demo feeds (CDRs, transactions, OSINT, cameras, persons) laid over real incidents."""
