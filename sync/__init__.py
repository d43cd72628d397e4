"""Durability: blob stores (Azure, local folder), journal segments shipped to Blob Storage, restore
on start, and the single-writer lease.

May import events and projections; must not import commands or bot.
"""
