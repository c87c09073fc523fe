"""A question that names a value of a table's text column, and the SQL examples written for it (issue 31)."""

from __future__ import annotations

from tests.rag.pipeline.fakes import grant_tables

TRAVEL = "How much was spent on travel in total?"


def test_table_values_name_what_a_question_mentions(tmp_path):
    from rag.pipeline.table_values import Mention, TableValues

    grant = grant_tables(tmp_path, 7)
    values = TableValues()
    table = grant.tables["grant_expenses"]
    assert values.values(table)["category"] == ("travel", "equipment", "printing", "meals")
    assert values.mention("How much went on Travel?", grant.tables) == Mention("grant_expenses", "category", "travel")
    assert values.mention("How much did the travelling cost?", grant.tables) is None  # whole words only
    assert values.mention(TRAVEL, {}) is None


def test_the_last_sql_example_filters_the_real_table_on_the_value_the_question_names(tmp_path):
    from rag.pipeline.table_values import Mention
    from rag.pipeline.tool_examples import examples_for

    tool = grant_tables(tmp_path, 7).registry.get("sql")
    *_, (question, arguments) = examples_for(tool, TRAVEL, Mention("grant_expenses", "category", "travel"))
    assert question == "What is the total amount_gbp where category is travel?"
    assert arguments == {"query": "SELECT SUM(amount_gbp) FROM grant_expenses WHERE category = 'travel'"}
    *_, (question, arguments) = examples_for(tool, TRAVEL)  # no value named: the sum over the real table
    assert arguments == {"query": "SELECT SUM(amount_gbp) FROM grant_expenses"}
