"""The descent kernels: one generator that writes every lockstep kernel from its parts, the
private cache that keeps their compiled code, and the branch-free math they inline."""
