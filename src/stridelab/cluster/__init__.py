"""k-means clustering and k-means++ seeding, following scikit-learn's estimator conventions."""

from stridelab.cluster._kmeans import KMeans, kmeans_plusplus

__all__ = ["KMeans", "kmeans_plusplus"]
