"""tables.py: CSV text with None as an empty cell, Markdown tables with right-aligned columns."""

from kan_inr.tables import markdown_table, rows_to_csv


def test_csv_keeps_the_columns_and_empties_none():
    rows = [{"signal": "a", "psnr": 30.5, "ssim": None}, {"signal": "b", "psnr": None, "ssim": 0.9}]
    assert rows_to_csv(rows) == "signal,psnr,ssim\na,30.5,\nb,,0.9\n"
    assert rows_to_csv(rows, ["ssim", "signal"]) == "ssim,signal\n,a\n0.9,b\n"


def test_markdown_table_aligns_the_named_columns_right():
    assert markdown_table(["model", "PSNR"], [["siren", "30.00"]], {"PSNR"}) == [
        "| model | PSNR |", "|---|---:|", "| siren | 30.00 |"]
