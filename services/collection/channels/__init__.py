"""Payment channels (R20): each channel's own notification shape, parsed into one ChannelPayment."""
