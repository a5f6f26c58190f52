"""The data layer: the FER2013 CSV parser and its compiled kernel, the CSV->PNG converter, array
loaders and their cache, FER+, splits, the tf.data pipeline, augmentation layers, data figures.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""

from fer_keras.data.ferplus import (
    FERPLUS_COLUMNS,
    LABEL_SETS,
    FerPlusSplit,
    default_ferplus_path,
    ferplus_for_dataset,
    ferplus_labels,
    load_ferplus,
)
from fer_keras.data.loading import (
    CONTEMPT,
    FULL_CSV,
    MERGED_CLASS_NAMES,
    SAMPLE_CSV,
    class_names,
    class_weights,
    config_class_names,
    dataset_dir,
    default_data_path,
    find_duplicates,
    load_dataset,
    load_fer2013,
    load_png_tree,
    merge_disgust,
    read_table,
    sample_path,
    stratified_kfold,
    subset,
    train_split,
)

__all__ = [
    "SAMPLE_CSV",
    "FULL_CSV",
    "dataset_dir",
    "sample_path",
    "default_data_path",
    "read_table",
    "load_fer2013",
    "load_png_tree",
    "load_dataset",
    "FERPLUS_COLUMNS",
    "load_ferplus",
    "LABEL_SETS",
    "FerPlusSplit",
    "default_ferplus_path",
    "ferplus_for_dataset",
    "ferplus_labels",
    "subset",
    "class_weights",
    "MERGED_CLASS_NAMES",
    "merge_disgust",
    "class_names",
    "CONTEMPT",
    "config_class_names",
    "stratified_kfold",
    "train_split",
    "find_duplicates",
]
