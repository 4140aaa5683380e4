// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// Emits user actions (MINT=0, BURN=1, STAKE=2, CLAIM=3) for the belt_gate sandbox.
contract SandboxActions {
    event ActionRecorded(address indexed actor, uint8 actionType, uint256 numeric1, string context);

    /// One ActionRecorded(actor[i], actionType[i], numeric1[i], context[i]) per element.
    function recordBatch(
        address[] calldata actor,
        uint8[] calldata actionType,
        uint256[] calldata numeric1,
        string[] calldata context
    ) external {
        require(
            actor.length == actionType.length && actionType.length == numeric1.length
                && numeric1.length == context.length,
            "length"
        );
        for (uint256 i = 0; i < actor.length; i++) {
            require(actionType[i] < 4, "actionType");
            emit ActionRecorded(actor[i], actionType[i], numeric1[i], context[i]);
        }
    }
}
