import restoration


def test_register_is_idempotent():
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY

    restoration.register()
    sizes = [len(list(r)) for r in (ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY)]
    restoration.register()
    restoration.register()
    assert [len(list(r)) for r in (ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY)] == sizes


def test_scanner_imports_only_matching_modules():
    from restoration._scan import import_modules

    names = import_modules("restoration.data", "_dataset")
    assert all(n.endswith("_dataset") for n in names)
    assert "offline_photos" not in names
