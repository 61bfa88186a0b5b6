"""INR compression: an image stored as a small network's quantised, entropy-coded weights.

sizing.py (network per bit budget) -> quant.py (quantisers, quantisation-aware fine-tuning) ->
entropy.py (range coding) -> weights.py (weights <-> table + payload) -> fileformat.py (the .kinr
container) ; jobs.py runs compress and decompress.
"""
