/* co_switch_x86_64.S - the coroutine context switch (System V x86-64).
 *
 * bg__co_switch(void **save_sp, void *to_sp) pushes the callee-saved registers and the
 * FPU/SSE control words on the current stack, stores the stack pointer in *save_sp,
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
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
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
#endif
	.section .note.GNU-stack, "", @progbits
