"""Market-data providers (Unusual Whales, Finnhub, Anthropic, an offline sample provider).

They call the outside world and turn answers into events. May import events; must not import
projections, commands or sync.
"""
