"""Spreadsheet add-in server (installed as llmcalc.excel)."""
