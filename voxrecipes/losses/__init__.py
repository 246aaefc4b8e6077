"""voxrecipes.losses"""

from voxrecipes.losses.text_injection import combined_loss, contrastive_injection_loss, mse_injection_loss

__all__ = ["combined_loss", "contrastive_injection_loss", "mse_injection_loss"]
