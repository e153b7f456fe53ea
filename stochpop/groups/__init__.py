"""BEFINN's population groups from registered data: the grouped jump-off state (immigrants by country
group, duration of stay, sex and age; Norwegian-born to immigrant parents by mother's group; the rest),
reconstructed where the registers publish only margins, and a replay of registered years through the
kernel (issue #14, item 3)."""
