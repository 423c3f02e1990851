"""Link-analysis assets: weekly call networks, communities, key players, burners, fraud rings and charts."""
