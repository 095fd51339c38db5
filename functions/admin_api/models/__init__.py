"""The admin API's request and response models, mapped on purpose from and to the domain."""
