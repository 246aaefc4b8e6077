# Where the corpora live on this machine. Recipes read these variables in
# local/data.sh; set them to your copies. Mini recipes generate their corpora
# under downloads/ when the variable is empty.
MSP_PODCAST=${MSP_PODCAST:-}            # MSP-Podcast release: Audios/ Labels/ Transcripts/
TOXICITY_MANIFEST=${TOXICITY_MANIFEST:-}  # directory with train.tsv dev.tsv test.tsv (or .jsonl)
MUTOX_TSV=${MUTOX_TSV:-}                # MuTox TSV
MUTOX_AUDIO=${MUTOX_AUDIO:-}            # directory with the MuTox audio files
DETOXY=${DETOXY:-}                      # DeToxy data/ folder: train.csv valid.csv test.csv trigger_test.csv
DETOXY_AUDIO=${DETOXY_AUDIO:-}          # directory with the rebuilt DeToxy clips
MUSAN=${MUSAN:-}                        # MUSAN corpus (noise/)
RIRS_NOISES=${RIRS_NOISES:-}            # RIRS_NOISES (simulated_rirs/)
