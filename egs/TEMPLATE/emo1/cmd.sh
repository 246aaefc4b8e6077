# How jobs are dispatched. Each *_cmd is a dispatcher with Kaldi's interface:
#   ${train_cmd} [--mem 4G] [--gpu 1] [--num-threads N] JOB=1:N exp/x/log/name.JOB.log command args
#
# local: run on this machine, at most as many jobs at once as there are CPUs
#        (add --max-jobs-run K to bound it further).
# slurm: submit an array job with sbatch; options are mapped by conf/slurm.conf.
cmd_backend=${cmd_backend:-local}

if [ "${cmd_backend}" = local ]; then
    export train_cmd="run_local.sh"
    export cuda_cmd="run_local.sh"
    export decode_cmd="run_local.sh"
elif [ "${cmd_backend}" = slurm ]; then
    export train_cmd="run_slurm.sh --config ${MAIN_ROOT}/conf/slurm.conf"
    export cuda_cmd="run_slurm.sh --config ${MAIN_ROOT}/conf/slurm.conf --gpu 1"
    export decode_cmd="run_slurm.sh --config ${MAIN_ROOT}/conf/slurm.conf --mem 4G"
else
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    return 1 2>/dev/null || exit 1
fi
