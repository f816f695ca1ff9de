"""``tinygen.linalg``: PyTorch's ``torch.linalg`` names that tinygen provides.

Norms (vector_norm, matrix_norm and norm, with PyTorch's ord, dim and keepdim), the matrix
product and the singular value decomposition (svd, svdvals); the other decompositions (qr,
eig, cholesky, ...) are not provided.
"""

from tinygen.autograd.ops.decomposition import svd, svdvals
from tinygen.autograd.ops.linalg import matmul
from tinygen.autograd.ops.norms import linalg_norm as norm
from tinygen.autograd.ops.norms import matrix_norm, vector_norm

__all__ = ["matmul", "matrix_norm", "norm", "svd", "svdvals", "vector_norm"]
