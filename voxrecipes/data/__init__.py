"""voxrecipes.data: Kaldi data directories, their audio, and what stages make of them.

The modules stand in layers. A module imports only modules of lower layers (never one of
its own layer or above), and only at module level, so that no two modules depend on each
other and nothing needs a function-level import to break a cycle
(tests/data/test_layers.py holds the code to this list). Layers, lowest first
(``N. modules: what they hold``):

1. table, augment, chunking, dtx, asr_sentences: ``key value`` text tables (read, write,
   C-locale order); waveforms and transcripts on their own, with no data directory.
2. values, posteriors, balance: the value of each data-dir file's lines (parse, format);
   posterior files; balanced evaluation subsets.
3. datadir: the container, :class:`~voxrecipes.data.datadir.DataDir`, with the rules that
   span its files, checked whenever a directory is loaded or written.
4. audio: the waveform of a wav.scp entry (path or ``cmd |`` pipe) and of an utterance.
5. validate, manipulate, utt2dur, dump: what a stage asks of a directory on disk (files,
   class names, decodable audio); fix, subset, split, combine; durations; the dump.
6. duration_select: keep the utterances whose duration lies in a range.
"""
