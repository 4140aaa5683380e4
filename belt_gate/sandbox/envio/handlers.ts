// The sandbox's Envio handlers: the same entities, ids and values as the Python reference indexer
// (belt_gate/sandbox/indexer.py), so a reference belt and an Envio belt over the same chains agree.
import { SandboxActions, SandboxLending, SandboxMulti, SandboxNFT } from "generated";

const ZERO = "0x0000000000000000000000000000000000000000";
const ACTION_TYPES = ["MINT", "BURN", "STAKE", "CLAIM"];

SandboxNFT.Transfer.handler(async ({ event, context }) => {
  const from = event.params.from.toLowerCase();
  context.NftTransfer.set({
    id: `${event.chainId}_${event.block.number}_${event.logIndex}`,
    chainId: event.chainId,
    collection: event.srcAddress.toLowerCase(),
    from,
    to: event.params.to.toLowerCase(),
    tokenId: event.params.tokenId,
    isMint: from === ZERO,
    blockNumber: BigInt(event.block.number),
    timestamp: BigInt(event.block.timestamp),
    transactionHash: event.transaction.hash.toLowerCase(),
    logIndex: event.logIndex,
  });
});

SandboxMulti.TransferSingle.handler(async ({ event, context }) => {
  context.Erc1155Transfer.set({
    id: `${event.chainId}_${event.block.number}_${event.logIndex}`,
    chainId: event.chainId,
    collection: event.srcAddress.toLowerCase(),
    operator: event.params.operator.toLowerCase(),
    from: event.params.from.toLowerCase(),
    to: event.params.to.toLowerCase(),
    tokenId: event.params.id,
    value: event.params.value,
    blockNumber: BigInt(event.block.number),
    timestamp: BigInt(event.block.timestamp),
    transactionHash: event.transaction.hash.toLowerCase(),
    logIndex: event.logIndex,
  });
});

SandboxActions.ActionRecorded.handler(async ({ event, context }) => {
  const txHash = event.transaction.hash.toLowerCase();
  const n = Number(event.params.actionType);
  context.Action.set({
    id: `${event.chainId}_${txHash}_${event.logIndex}`,
    chainId: event.chainId,
    actor: event.params.actor.toLowerCase(),
    actionType: (ACTION_TYPES[n] ?? String(n)) as any,
    numeric1: event.params.numeric1 === 0n ? undefined : event.params.numeric1,
    context: event.params.context === "" ? undefined : event.params.context,
    timestamp: BigInt(event.block.timestamp),
    txHash,
  });
});

SandboxLending.LoanOpened.handler(async ({ event, context }) => {
  context.Loan.set({
    id: `${event.chainId}_${event.params.loanId}`,
    chainId: event.chainId,
    loanId: event.params.loanId,
    borrower: event.params.borrower.toLowerCase(),
    amount: event.params.amount,
    expiry: event.params.expiry,
    status: "ACTIVE",
    createdAt: BigInt(event.block.timestamp),
    repaidAt: undefined,
    defaultedAt: undefined,
    transactionHash: event.transaction.hash.toLowerCase(),
  });
});

SandboxLending.LoanRepaid.handler(async ({ event, context }) => {
  const loan = await context.Loan.get(`${event.chainId}_${event.params.loanId}`);
  if (loan !== undefined) {
    context.Loan.set({ ...loan, status: "REPAID", repaidAt: BigInt(event.block.timestamp) });
  }
});

SandboxLending.LoanDefaulted.handler(async ({ event, context }) => {
  const loan = await context.Loan.get(`${event.chainId}_${event.params.loanId}`);
  if (loan !== undefined) {
    context.Loan.set({ ...loan, status: "DEFAULTED", defaultedAt: BigInt(event.block.timestamp) });
  }
});
