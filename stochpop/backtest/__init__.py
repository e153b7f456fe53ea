"""Back-testing: refit and project from past jump-offs with only the data known then, and score the
forecasts against what was registered (`run`, `targets`, `baseline`, `external`, `scores`, `report`)."""
