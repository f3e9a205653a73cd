"""Currency exchange rates read from a CSV file."""

import csv


def load_rates(path):
    """Read exchange rates per currency code from a CSV file with columns code,rate."""
    with open(path, newline="") as f:
        return {row["code"]: float(row["rate"]) for row in csv.DictReader(f)}


def convert(amount, source, target, rates):
    """Convert an amount of money from one currency to another through the base currency."""
    return amount / rates[source] * rates[target]


def format_money(amount, code):
    """Format an amount with two decimals and its currency code."""
    return f"{amount:,.2f} {code}"
