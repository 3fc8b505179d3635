/* co_switch_x86_64.S - the coroutine context switch (System V x86-64).
 *
 * bg__co_switch(void **save_sp, void *to_sp) pushes the FPU/SSE control words and the
 * callee-saved registers on the current stack, stores the stack pointer in *save_sp,
 * loads to_sp and pops the same layout: a switch is a function call that returns on
 * another stack.  Caller-saved registers need no saving (the C compiler already
 * assumes the call clobbers them); MXCSR and the x87 control word are callee-saved in
 * the ABI, so a coroutine that changes the rounding mode does not leak it.
 *
 * A new coroutine's stack is laid out by guard/co_ctx.h to look like a suspended
 * switch whose return address is bg__co_boot, with r12 = argument and r13 = entry.
 * bg__co_boot marks the end of the call chain for unwinders (.cfi_undefined rip), so
 * stack capture on a coroutine stops cleanly at the coroutine's first frame.
 */
#if defined(__x86_64__)
	.text
	.globl	bg__co_switch
	.hidden	bg__co_switch
	.type	bg__co_switch, @function
	.p2align 4
bg__co_switch:
	.cfi_startproc
	endbr64
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)		/* first: its latency (~6 ns here) overlaps the pushes */
	fnstcw	4(%rsp)
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp	/* the other stack holds the same layout: same CFA rule */
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	/* pop + jmp, not ret: the return address belongs to another stack, so `ret` would
	 * always miss the return-stack predictor (~6 ns here); the indirect jump is
	 * predicted from its own history (docs/performance.md). */
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmp	*%rcx
	.cfi_endproc
	.size	bg__co_switch, .-bg__co_switch

	.globl	bg__co_boot
	.hidden	bg__co_boot
	.type	bg__co_boot, @function
	.p2align 4
bg__co_boot:
	.cfi_startproc
	.cfi_undefined rip
	endbr64
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	bg__co_boot, .-bg__co_boot

/* bg__co_call_on(void *top, void (*fn)(void *), void *arg) calls fn(arg) with the stack
 * pointer at `top` (16-byte aligned), on another stack, and returns on this one.  The
 * frame is a standard frame-pointer frame (CFA = rbp + 16), so an unwinder walking up
 * from fn continues on the caller's stack: guard/sched.c runs the core's deep paths
 * (the stack capture of a violation) on the scheduler thread's own stack this way, and
 * the stack captured is still the coroutine's. */
	.globl	bg__co_call_on
	.hidden	bg__co_call_on
	.type	bg__co_call_on, @function
	.p2align 4
bg__co_call_on:
	.cfi_startproc
	endbr64
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register rbp
	movq	%rdi, %rsp
	movq	%rdx, %rdi
	callq	*%rsi
	movq	%rbp, %rsp
	popq	%rbp
	.cfi_def_cfa rsp, 8
	ret
	.cfi_endproc
	.size	bg__co_call_on, .-bg__co_call_on
#endif
	.section .note.GNU-stack, "", @progbits
