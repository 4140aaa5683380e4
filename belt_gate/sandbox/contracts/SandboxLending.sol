// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// Loans that open, then are repaid or default, for the belt_gate sandbox (mutable entity, mode C).
/// No state is kept: the traffic generator only repays or defaults loans it opened.
contract SandboxLending {
    event LoanOpened(uint256 indexed loanId, address indexed borrower, uint256 amount, uint256 expiry);
    event LoanRepaid(uint256 indexed loanId);
    event LoanDefaulted(uint256 indexed loanId);

    function openBatch(
        uint256[] calldata loanId,
        address[] calldata borrower,
        uint256[] calldata amount,
        uint256[] calldata expiry
    ) external {
        require(
            loanId.length == borrower.length && borrower.length == amount.length
                && amount.length == expiry.length,
            "length"
        );
        for (uint256 i = 0; i < loanId.length; i++) {
            emit LoanOpened(loanId[i], borrower[i], amount[i], expiry[i]);
        }
    }

    function repayBatch(uint256[] calldata loanId) external {
        for (uint256 i = 0; i < loanId.length; i++) {
            emit LoanRepaid(loanId[i]);
        }
    }

    function defaultBatch(uint256[] calldata loanId) external {
        for (uint256 i = 0; i < loanId.length; i++) {
            emit LoanDefaulted(loanId[i]);
        }
    }
}
