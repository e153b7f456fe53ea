"""The registered group data of the shared Norway folder, read once (skips where the data are absent)."""

from collections.abc import Callable
from pathlib import Path

import pytest

from stochpop.groups.registered import RegisteredGroups, load_registered


@pytest.fixture(scope="session")
def registered(shared_data: Path) -> RegisteredGroups:
    """Norway's registered immigrant-group data (`stochpop.groups.registered`)."""
    return load_registered(shared_data / "norway")


EVENT_FIELDS: tuple[str, ...] = (
    "deaths", "births", "fertility", "flows_imdi", "flows_by_region", "flows_citizenship", "eurostat",
    "eurostat_totals", "tfr_ratio",
)  # fmt: skip
"""The registered fields of event years; the others are stocks on 1 January."""


@pytest.fixture(scope="session")
def changed_after(registered: RegisteredGroups) -> Callable[[int], RegisteredGroups]:
    """`registered` with every figure unknown on 1 January `last_year` + 1 (events of later years, stocks
    of later 1 Januaries: what a fit cut at `last_year` must not see) multiplied by 2, 3, ... in its first,
    second, ... unknown year (a factor that changes shapes pooled over years, too)."""

    def changed(last_year: int) -> RegisteredGroups:
        fields = {}
        for name in RegisteredGroups.__dataclass_fields__:
            values = getattr(registered, name)
            known = last_year if name in EVENT_FIELDS else last_year + 1
            factor = (values["year"] - known + 1).clip(min=1)
            fields[name] = (values * factor).assign_attrs(values.attrs)
        return RegisteredGroups(**fields)

    return changed
