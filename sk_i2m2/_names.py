"""Names the package's modules share, in a module that imports none of them."""

#: Name of the inter-modality expert.
FUSION = "fusion"
