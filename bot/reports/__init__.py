"""The numbers support leads watch: deflection, CSAT, unanswered questions, metrics."""
