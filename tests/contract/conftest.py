from tests.azure.conftest import arm, azure, estate  # noqa: F401  the two adapters under one contract
