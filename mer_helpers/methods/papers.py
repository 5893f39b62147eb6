"""The papers' published numbers, in one place, as printed.

Paper 1's Table 1 (= paper 2's Table 2: MELD, happy / sad / surprise, a random 80/20 split,
ImageNet ResNet-50), paper 2's ROC AUCs and its BiLSTM-SA confusion matrix. Notebook 07 and
the book's claim table set the runs beside them.
"""
from __future__ import annotations

#: Paper 1 Table 1 = paper 2 Table 2 (MELD, happy/sad/surprise, random 80/20 split, ImageNet ResNet-50).
PAPER_TABLE1 = {
    "bilstm_sa": {"accuracy": 0.89834, "precision_weighted": 0.89833, "recall_weighted": 0.898, "f1_weighted": 0.898},
    "bilstm": {"accuracy": 0.85151, "precision_weighted": 0.85165, "recall_weighted": 0.85151, "f1_weighted": 0.85152},
    "cnn": {"accuracy": 0.8687, "precision_weighted": 0.86877, "recall_weighted": 0.8687, "f1_weighted": 0.86867},
}


#: Paper 2 §5.1: ROC AUC of the three models.
PAPER2_AUC = {"bilstm_sa": 0.98, "bilstm": 0.93, "cnn": 0.928}


#: Paper 2 §5.1, BiLSTM-SA confusion matrix as given in the text (rows true, columns predicted;
#: order happy, sad, surprise).
PAPER2_CONFUSION_BILSTM_SA = [[1284, 131, 34], [136, 1284, 13], [24, 5, 463]]


#: the papers' class set (Table 1, the confusion matrix above)
PAPER_CLASSES = ("happy", "sad", "surprise")
