"""The one error of budgets: an unknown preset, a bad override, a value outside its field's domain."""


class BudgetError(ValueError):
    """Unknown preset or bad override."""
