"""A plugin that misbehaves, to show securehost's denials and (isolated) containment."""
